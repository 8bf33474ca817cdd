"""The names of the project's assets and asset checks: one constant each, so a rename is one edit.

An asset's name is also its table's name (`pdm.<asset>` locally, `<catalog>.<schema>.<asset>` in
Unity Catalog).
"""

# raw: the landing zone ingested (each with a `<name>_rejects` table beside it)
RAW_MACHINES = "raw_machines"
RAW_MAINT_HISTORY = "raw_maint_history"
RAW_TELEMETRY = "raw_telemetry"
RAW_ERRORS = "raw_errors"
RAW_MAINT = "raw_maint"
RAW_FAILURES = "raw_failures"
# features, training, scoring
MACHINE_FEATURES = "machine_features"
FAILURE_LABELS = "failure_labels"
TRAINING_SET = "training_set"
FAILURE_MODEL = "failure_model"
FAILURE_PREDICTIONS = "failure_predictions"
CHALLENGER_PREDICTIONS = "challenger_predictions"
MAINTENANCE_ALERTS = "maintenance_alerts"
PREDICTION_OUTCOMES = "prediction_outcomes"

# checks of every raw table (telemetry_complete: raw_telemetry only)
CHECK_SCHEMA_MATCHES_CONTRACT = "schema_matches_contract"
CHECK_KEYS_UNIQUE = "keys_unique"
CHECK_REJECT_RATE = "reject_rate"
CHECK_TELEMETRY_COMPLETE = "telemetry_complete"
# checks of machine_features and failure_labels
CHECK_ONE_ROW_PER_GRID_POINT = "one_row_per_machine_and_grid_point"
CHECK_NO_NULL_FEATURES = "no_null_features"
CHECK_LABEL_MIX = "label_mix_within_bounds"
CHECK_LABELS_HAVE_FEATURES = "every_label_has_a_feature_row"
CHECK_LABELS_FINAL = "labels_final"
# checks of failure_model, failure_predictions and prediction_outcomes
CHECK_QUALITY_GATE = "quality_gate"
CHECK_ONE_PREDICTION_PER_ROW = "one_prediction_per_feature_row"
CHECK_PROBABILITIES_VALID = "probabilities_valid"
CHECK_FEATURE_DRIFT = "feature_drift"
CHECK_MODEL_DECAY = "model_decay"
