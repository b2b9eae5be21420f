"""rlsys: Tower+-style multilingual LLM training (CPT, SFT, preference optimization, RLVR)."""

__version__ = "0.1.0"
