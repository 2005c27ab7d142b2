"""LLM-serving guardrails: plain validators over Kubernetes objects, shared by the Pulumi CrossGuard
pack (policies/llm-guardrails) and `python -m policies.check --manifests DIR`."""
