"""Distillation from grokked (or not yet grokked) teachers: a teacher checkpoint chosen per seed
(teacher.py), the student's config and objective on the teacher's task and split (setup.py), and
recursive chains (chain.py). Training itself is ``experiments.train_run`` with the ``distill``
config section set: the one engine, with the distillation objective."""
