export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 64 64" aria-hidden="true">
      <rect width="64" height="64" rx="14" fill="#e8590c" />
      <path d="M14 40c0-11 8-20 18-20s18 9 18 20v4H14z" fill="#fff4e6" />
      <path d="M22 28l4 8M32 25v10M42 28l-4 8" stroke="#e8590c" strokeWidth="3" strokeLinecap="round" />
    </svg>
  );
}
