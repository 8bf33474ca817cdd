"""Dagster assets and asset checks: thin wiring around `pdm_assets.pipeline`."""
from pdm_assets.assets.beta_parameters import ignore_chosen_beta_warnings

ignore_chosen_beta_warnings()
