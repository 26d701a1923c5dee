"""Looking inside trained models (docs/architecture.md §4 "Analysis"); see groklab.analysis.run."""
