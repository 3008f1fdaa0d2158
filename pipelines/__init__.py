"""Pure ML code: text-to-image, background removal and face swap over Pillow images.

Nothing here knows about Redis, Django or Dramatiq. Each pipeline is loaded once
(`load(...)`) and then called many times with `run(params, progress) -> Output`.
"""
