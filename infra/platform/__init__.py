"""The platform layer as data: which pinned upstream charts a stack installs (releases), where their
images come from (registry), and the mirror preflight (chart_sources). The Pulumi components that
deploy them are in infra/components/platform."""
