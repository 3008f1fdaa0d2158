"""Tiny LoRA adapters for the tiny-random Stable Diffusion, built at test time with peft.

Rank-4 adapters on the denoiser's attention projections (and, if asked, the text
encoder's), with random non-zero weights from a fixed seed, saved in diffusers' LoRA
format as the model store holds them: `<store>/lora/<name>.safetensors`.
"""

from __future__ import annotations

from pathlib import Path

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


def build(model: Path, destination: Path, *, seed: int, text_encoder: bool = False) -> Path:
    """Write an adapter for the diffusers model at `model` to `destination` (a
    `.safetensors` path) and return it."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig, inject_adapter_in_model
    from peft.utils import get_peft_model_state_dict
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    # init_lora_weights=False: random A and B, so the adapter changes what the model does.
    unet = UNet2DConditionModel.from_pretrained(model / "unet")
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=UNET_TARGETS)
    )
    layers: dict = {"unet_lora_layers": get_peft_model_state_dict(unet)}
    if text_encoder:
        encoder = CLIPTextModel.from_pretrained(model / "text_encoder")
        inject_adapter_in_model(
            LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=TEXT_TARGETS),
            encoder,
        )
        layers["text_encoder_lora_layers"] = get_peft_model_state_dict(encoder)
    destination.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        destination.parent, weight_name=destination.name, **layers
    )
    return destination
