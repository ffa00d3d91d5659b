"""The engines that fit: Lightning's Trainer fits one member, the stacked engine fits K.

Both have one interface (`fitting.Engine`): ``fit(members, chunk)`` takes a chunk of
`fitting.FitMember`s, each with an optional mask for retraining a pruned network, and gives
one result per member. Each engine owns its checkpoint, resume, initial weights and device;
both apply one stop-rule definition (`stopping`, read once from ``conf/stop``), resume through
one checkpoint contract (`propensity.storage.checkpoints`), log through the loggers the recipe
opens (`loggers`), and report each epoch in one format (`epoch_report`). What is measured on
the fitted models is the recipe's (`propensity.measurements`), whichever engine fitted them.
"""
