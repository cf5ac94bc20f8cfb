/** Copy-paste examples for calling a deployment, filled in with its real URL. */

export const KEY_PLACEHOLDER = "YOUR_API_KEY";

/** The API may answer a path ("/api/v1/predict/x/") or a full URL; snippets need the full one. */
export function absoluteUrl(url: string, origin: string = typeof window === "undefined" ? "" : window.location.origin): string {
  if (/^https?:\/\//i.test(url)) return url;
  return `${origin.replace(/\/$/, "")}/${url.replace(/^\//, "")}`;
}

export function curlSnippet(url: string, key = KEY_PLACEHOLDER): string {
  return [`curl -X POST "${url}" \\`, `  -H "Authorization: Api-Key ${key}" \\`, `  -F "image=@photo.jpg"`].join("\n");
}

export function pythonSnippet(url: string, key = KEY_PLACEHOLDER): string {
  return [
    "import requests",
    "",
    `URL = "${url}"`,
    `API_KEY = "${key}"`,
    "",
    'with open("photo.jpg", "rb") as f:',
    "    response = requests.post(",
    "        URL,",
    '        headers={"Authorization": f"Api-Key {API_KEY}"},',
    '        files={"image": f},',
    "        timeout=30,",
    "    )",
    "response.raise_for_status()",
    "result = response.json()",
    'print(result["prediction"]["label"], result["prediction"]["confidence"])',
  ].join("\n");
}

export function fetchSnippet(url: string, key = KEY_PLACEHOLDER): string {
  return [
    "// `file` is a File or Blob, e.g. from <input type=\"file\">",
    "const form = new FormData();",
    'form.append("image", file);',
    "",
    `const response = await fetch("${url}", {`,
    '  method: "POST",',
    `  headers: { Authorization: "Api-Key ${key}" },`,
    "  body: form,",
    "});",
    "if (!response.ok) throw new Error((await response.json()).error.message);",
    "const result = await response.json();",
    "console.log(result.prediction.label, result.prediction.confidence);",
  ].join("\n");
}
