"""Commands run on a user's or developer's machine (pdm-demo, pdm-connect-server, benchmarks, screenshots).

Nothing here is imported by the definitions, and none of it ships to a cluster: the Databricks
code zip and the project wheel leave this folder out.
"""
