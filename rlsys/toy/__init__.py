"""Demo and fixture code: the toy multilingual world, tiny random models and tokenizers, tiny
COMET checkpoints. Used by the quickstart, tests and benchmarks; imported by no core module
(a test enforces it)."""
