"""Pipeline: params.yaml as typed config, the DVC stage runner, paths, workers, artifacts and atomic files."""
