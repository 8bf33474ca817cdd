"""Definitions for the deployment PDM_DEPLOYMENT selects (default: local)."""
from pdm_assets.deployments import build_definitions

defs = build_definitions()
