"""Running the experiment: one recipe for one run or a cohort of K (sections 3.1-3.2).

`recipe` reads like the paper: members -> chunks within the memory budget -> fit ->
measurements -> outcome -> records. `job` is the Hydra job around it (status, failures,
signals); `members`, `plan`, `lifecycle`, `measure_fitted`, `outcome` and `resumption` are its steps.
"""
