"""Whole studies: `babybias study experiment=<name> size=tiny|paper` calls `babybias.studies.<name>.run(cfg)`.

Each study chains ordinary commands (`babybias.launch.compose.run_command`) so every model it trains and
every evaluation it runs has its own normal run directory; the study writes its table and plot into
runs/<study name>/study/. Presets (the overrides per size) live in conf/experiment/<name>.yaml.
"""
