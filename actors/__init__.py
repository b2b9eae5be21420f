"""Workers that hold state and heavy libraries: rollout (vLLM / transformers), learner
(torch / DeepSpeed) and rewards. Each is a plain class usable in one process; `actors.group`
wraps them as Ray actors."""
