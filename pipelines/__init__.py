"""Pure ML code: text-to-image, background removal and face swap over Pillow images.

Nothing here knows about Redis, Django or Dramatiq. Every pipeline class meets the
`pipelines.pipeline.Pipeline` protocol: loaded once with `load(model, store, *, device)`,
then called many times with `run(params, progress) -> Output`, reporting its phase
timings as `pipelines.timing` describes.
"""
