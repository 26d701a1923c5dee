"""Looking inside trained models (DESIGN.md §3 "Analysis"); see groklab.analysis.run."""
