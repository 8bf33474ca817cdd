"""Where the project's tables live: Delta Lake tables, replaced a day at a time, in every deployment.

One store (`delta_store.DeltaTableStore`) behind the IO manager; what differs per deployment is the
catalog that names the tables (`catalogs`): folders under `$PDM_HOME/warehouse` named `pdm.<table>`
locally and over Spark Connect, Unity Catalog's `<catalog>.<schema>.<table>` on Databricks.
"""
