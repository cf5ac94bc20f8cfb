"""Serving: a model version's ONNX graph in ONNX Runtime, fed by the one preprocessing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from apps.ml.backbones import get_backbone
from apps.ml.embedding import session_options
from apps.ml.preprocessing import preprocess_batch


class Predictor:
    """Loaded once per process and kept; ``run`` on an ORT session is thread-safe."""

    def __init__(self, session: ort.InferenceSession, labels: Sequence[str], backbone: str) -> None:
        self.session = session
        self.labels = list(labels)
        self.spec = get_backbone(backbone)
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def load(
        cls,
        source: str | Path | bytes,
        *,
        labels: Sequence[str],
        backbone: str = "efficientnet_lite0",
        threads: int = 1,
        spinning: bool = False,
    ) -> Predictor:
        """``threads``: ONNX Runtime intra-op threads (0: its default). ``spinning``: let
        those threads spin between a call's operators instead of sleeping; without that,
        two threads are barely faster than one on EfficientNet-Lite0. They stop spinning
        when the call returns either way: leftover spinning took about 2 ms of CPU per call
        from whatever else the machine was doing (measured on 2 cores, batch 1)."""
        model = source if isinstance(source, bytes) else str(source)
        options = session_options(threads)
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
        options.add_session_config_entry("session.force_spinning_stop", "1")
        session = ort.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )
        classes = session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(labels):
            raise ValueError(
                f"The model predicts {classes} classes but {len(labels)} labels were given."
            )
        return cls(session, labels, backbone)

    def predict_arrays(self, batch: np.ndarray) -> np.ndarray:
        """Preprocessed float32 [N, 3, H, W] -> probabilities [N, C]."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run(None, {self.input_name: batch})[0]

    @property
    def has_features(self) -> bool:
        """Does the graph also output the image's embedding ("features", second output)?
        Composed quick-mode graphs do; older ones and fine-tuned exports do not."""
        return len(self.session.get_outputs()) > 1

    def predict_arrays_with_features(
        self, batch: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Preprocessed float32 [N, 3, H, W] -> (probabilities [N, C], embeddings [N, D] or
        None when the graph has no second output): one forward pass."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        outputs = self.session.run(None, {self.input_name: batch})
        return outputs[0], (outputs[1] if len(outputs) > 1 else None)

    def predict(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.predict_arrays(preprocess_batch(images, self.spec))

    def ranked(self, probabilities: np.ndarray) -> list[dict[str, float | str]]:
        """One row of probabilities -> [{"label", "confidence"}] best first."""
        order = np.argsort(-probabilities)
        return [{"label": self.labels[i], "confidence": float(probabilities[i])} for i in order]
