"""Data and losses for the stages before RL: continued pretraining, SFT, preference optimization.

Modules (import them directly; this package imports nothing heavy on its own):
- data.py: what kind of rows a source holds (`detect_kind`), per-source counts (`DataStats`); the reader
  itself (`load_records`, row locations, `DataError`) is rlsys.core.data's, re-exported here.
- templates.py: translation prompt phrasings and language names from ISO codes.
- formatting.py: one row -> tokens for each kind (text, parallel, parallel_chat, chat,
  preference); `make_formatter`.
- examples.py: `TokenizedExample` / `PreferenceExample`, the `on_overlength` policy and
  `build_examples(records, formatter, ...)`.
- packing.py: pack documents into rows (`pack_examples`, `collate_packed`), the block-diagonal
  mask (`block_causal_mask`), preference batches (`pad_preference_batch`); its docstring says what
  the learner must pass to the model.
- mixing.py: weighted source mixing (`mix_indices`) and the validation split.
- losses.py: `masked_ce`, `sequence_logprobs`, `dpo_loss`, `wpo_weights`, `preference_loss`.
"""
