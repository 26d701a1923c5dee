"""Take a model elsewhere (``groklab export``; docs/export.md): a run's checkpoint per seed as
safetensors with its config, or as a TransformerLens ``HookedTransformer`` state dict and
config; ``load_exported`` reads either back into a groklab model."""

from groklab.export.read import load_exported, read_export
from groklab.export.write import FORMATS, export_models, export_run, write_model

__all__ = ["FORMATS", "export_models", "export_run", "load_exported", "read_export",
           "write_model"]
