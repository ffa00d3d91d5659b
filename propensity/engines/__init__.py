"""The engines that fit: Lightning's Trainer fits one member, the stacked engine fits K.

Each engine only fits. Both apply one stop-rule definition (`stopping`, read once from
``conf/stop``), resume through one checkpoint contract (`propensity.storage.checkpoints`),
log through the loggers the recipe opens (`loggers`), and report each epoch in one format
(`epoch_report`). What is measured on the fitted models is the recipe's
(`propensity.measurements`), whichever engine fitted them.
"""
