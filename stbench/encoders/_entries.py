"""The registry's entries: the field's pathology foundation encoders, HEST's ResNet-50 floor,
and random-weight CPU stand-ins. Plain data (torch-free); docs/encoders.md renders them as a table.

Sources read (each entry's ``sources`` names the ones it uses):

* ``HEST``: github.com/mahmoodlab/HEST at afd42c31 (2025-09-01),
  ``src/hest/bench/cpath_model_zoo/inference_models.py``: how HEST-Benchmark builds and pools
  each encoder.
* ``TRIDENT``: github.com/mahmoodlab/TRIDENT at a91fa849 (2026-06-24),
  ``trident/patch_encoder_models/load.py`` (architecture arguments for loading local
  checkpoints, transforms, pooling), ``utils/constants.py`` (normalisation constants) and
  ``model_zoo/conchv1_5/conchv1_5.py`` (CONCH v1.5's vision tower).
* ``UNI-README``: github.com/mahmoodlab/UNI at 42715efc (2025-03-25), README (UNI2-h's
  ``timm_kwargs``, licence and terms).
* ``HIBOU``: github.com/HistAI/hibou at 06102fd9, ``hibou/models/__init__.py`` (``build_model``:
  patch 14, 4 registers, SwiGLU FFN, LayerScale 1e-5) and README (licence, citation).
* ``timm``: timm 1.0.31 model definitions (``vit_giant_patch14_reg4_dinov2`` & co.).
* Papers and vendor pages for parameter counts, named in ``params_source``.

Parameter counts: ``params`` is the figure a source states; where none was found the entry
says ``derived`` and gives this registry's own count of the architecture (rounded), which the
offline test then pins. None of the model cards read gives a hub revision to pin, so every
entry follows ``main`` and the feature cache keys on the commit it resolves to locally.
"""

from __future__ import annotations

from stbench.encoders._config import EncoderConfig

BIOPTIMUS_MEAN = (0.707223, 0.578729, 0.703617)
BIOPTIMUS_STD = (0.211883, 0.230117, 0.177517)
HIBOU_MEAN = (0.7068, 0.5755, 0.722)
HIBOU_STD = (0.195, 0.2316, 0.1816)
HALF = (0.5, 0.5, 0.5)

_SWIGLU = {"mlp_layer": "SwiGLUPacked", "act_layer": "SiLU"}
_NC_ND = "CC-BY-NC-ND-4.0"

ENTRIES: tuple[EncoderConfig, ...] = (
    EncoderConfig(
        name="resnet50-trunc", title="ResNet-50 (truncated, HEST's floor)", route="timm", arch="resnet50",
        arch_kwargs={"features_only": True, "out_indices": (3,)}, input_size=224, dim=1024, pooling="avgpool",
        prefix_tokens=0, params="8.5M", params_source="derived: ResNet-50 up to its third stage",
        hub="timm/resnet50.tv_in1k", ignore_keys=("layer4.", "fc."), licence="BSD-3-Clause",
        citation="He et al., Deep Residual Learning for Image Recognition, CVPR 2016",
        sources=("HEST: ResNet50InferenceEncoder (resnet50.tv_in1k, features_only, out_indices [3], "
                 "AdaptiveAvgPool2d(1))",),
        notes="ImageNet weights, no pathology resolution; HEST feeds it 224 px tiles at 0.5 um/px.",
    ),
    EncoderConfig(
        name="resnet50", title="ResNet-50 (ImageNet, GenST's image encoder)", route="timm", arch="resnet50",
        arch_kwargs={"num_classes": 0, "global_pool": "avg"}, input_size=224, dim=2048, pooling="avgpool",
        prefix_tokens=0, params="23.5M", params_source="derived: torchvision's 25.6M less the 1000-class head",
        hub="timm/resnet50.tv_in1k", ignore_keys=("fc.",), licence="BSD-3-Clause",
        citation="He et al., Deep Residual Learning for Image Recognition, CVPR 2016",
        sources=("timm resnet50.tv_in1k", "GenST paper (ResNet-50 image branch)"),
    ),
    EncoderConfig(
        name="uni", title="UNI", route="timm", arch="vit_large_patch16_224",
        arch_kwargs={"img_size": 224, "patch_size": 16, "init_values": 1e-5, "num_classes": 0,
                     "dynamic_img_size": True},
        input_size=224, dim=1024, pooling="cls", params="303M", params_source="derived: ViT-L/16",
        um_per_px=0.5, hub="MahmoodLab/uni", licence=_NC_ND, gated=True,
        citation="Chen et al., Towards a General-Purpose Foundation Model for Computational Pathology, "
                 "Nature Medicine 2024",
        sources=("TRIDENT: UNIInferenceEncoder (timm_kwargs, Resize+CenterCrop 224, ImageNet mean/std)",
                 "UNI-README: hf-hub:MahmoodLab/uni, CC-BY-NC-ND 4.0, registration and terms on the hub"),
        notes="HEST passes init_values=1.0, TRIDENT and the README 1e-5: both only create the LayerScale "
              "parameters that the checkpoint overwrites. HEST runs UNI under float16 autocast.",
    ),
    EncoderConfig(
        name="uni2-h", title="UNI2-h", route="timm", arch="vit_giant_patch14_224",
        arch_kwargs={"img_size": 224, "patch_size": 14, "depth": 24, "num_heads": 24, "init_values": 1e-5,
                     "embed_dim": 1536, "mlp_ratio": 2.66667 * 2, "num_classes": 0, "no_embed_class": True,
                     **_SWIGLU, "reg_tokens": 8, "dynamic_img_size": True},
        input_size=224, dim=1536, pooling="cls", prefix_tokens=9, params="681M",
        params_source="derived: ViT-H/14, 8 registers, SwiGLU (the README gives no count)", um_per_px=0.5,
        hub="MahmoodLab/UNI2-h", licence=_NC_ND, gated=True,
        citation="Chen et al., Nature Medicine 2024 (UNI); UNI2-h released 01/2025 (UNI README)",
        sources=("UNI-README: timm_kwargs of UNI2-h, pytorch_model.bin, ImageNet mean/std",
                 "TRIDENT: UNIv2InferenceEncoder (same kwargs; class token; bfloat16)"),
        notes="The class token (timm's default 'token' pool); the 8 register tokens are dropped.",
    ),
    EncoderConfig(
        name="conch-v1.5", title="CONCH v1.5", route="conch", arch="vit_large_patch16_224",
        arch_kwargs={"img_size": 224, "patch_size": 16, "init_values": 1.0, "num_classes": 0,
                     "global_pool": "", "dynamic_img_size": True},
        input_size=448, dim=768, pooling="attnpool", params="306M",
        params_source="derived: ViT-L/16 trunk + attentional pooler (no published count found)",
        um_per_px=0.5, hub="MahmoodLab/conchv1_5", weights_files=("pytorch_model_vision.bin",),
        licence=_NC_ND, gated=True,
        citation="Ding et al., Multimodal Whole Slide Foundation Model for Pathology (TITAN), arXiv:2411.19666",
        sources=("TRIDENT: Conchv15InferenceEncoder (img_size 448, Resize+CenterCrop, ImageNet mean/std) and "
                 "model_zoo/conchv1_5 (ViT-L/16 init_values 1.0, AttentionalPooler(768, 1024, 8 heads, 1 "
                 "query), LayerNorm(768), pytorch_model_vision.bin)",),
        notes="The authors' trunk is built at 224 px and interpolates its position embedding per forward "
              "(bicubic, DINO's +0.1 offset); here timm's dynamic_img_size resamples it (bicubic): equal "
              "shapes, slightly different interpolation weights. um/px: 20x tiles per TITAN; not pinned "
              "to the digit.",
    ),
    EncoderConfig(
        name="virchow", title="Virchow", route="timm", arch="vit_huge_patch14_224",
        arch_kwargs={"img_size": 224, "init_values": 1e-5, "num_classes": 0, "mlp_ratio": 5.3375,
                     "global_pool": "", "dynamic_img_size": True, **_SWIGLU},
        input_size=224, dim=2560, pooling="cls+mean", params="632M",
        params_source="bio.rodeo/models/virchow (632M, ViT-H/14; a summary page, the paper was not read here)",
        um_per_px=0.5,
        hub="paige-ai/Virchow", licence="Apache-2.0", gated=True,
        citation="Vorontsov et al., A foundation model for clinical-grade computational pathology and rare "
                 "cancers detection, Nature Medicine 2024",
        sources=("HEST and TRIDENT: VirchowInferenceEncoder (class token + mean of tokens 1:, 2560-d; "
                 "bicubic resize, ImageNet mean/std)",),
    ),
    EncoderConfig(
        name="virchow2", title="Virchow2", route="timm", arch="vit_huge_patch14_224",
        arch_kwargs={"img_size": 224, "init_values": 1e-5, "num_classes": 0, "reg_tokens": 4,
                     "mlp_ratio": 5.3375, "global_pool": "", "dynamic_img_size": True, **_SWIGLU},
        input_size=224, dim=2560, pooling="cls+mean", prefix_tokens=5, params="632M",
        params_source="Zimmermann et al., arXiv:2408.00738 (632 million)", um_per_px=0.5,
        hub="paige-ai/Virchow2", licence=_NC_ND, gated=True,
        citation="Zimmermann et al., Virchow2: Scaling Self-Supervised Mixed Magnification Models in "
                 "Pathology, arXiv:2408.00738",
        sources=("HEST and TRIDENT: Virchow2InferenceEncoder (class token + mean of tokens 5:, registers "
                 "1-4 dropped, 2560-d)",),
        notes="Trained on mixed magnifications (5x-40x); 0.5 um/px is the 20x tiles HEST feeds it.",
    ),
    EncoderConfig(
        name="h-optimus-0", title="H-optimus-0", route="timm", arch="vit_giant_patch14_reg4_dinov2",
        arch_kwargs={"img_size": 224, "init_values": 1e-5, "num_classes": 0, "global_pool": "token",
                     "dynamic_img_size": False},
        input_size=224, dim=1536, pooling="cls", prefix_tokens=5, params="1.1B",
        params_source="bio.rodeo/models/h-optimus-0 (1.1 billion, ViT-g/14, 4 registers; a summary page)",
        mean=BIOPTIMUS_MEAN, std=BIOPTIMUS_STD,
        um_per_px=0.5, hub="bioptimus/H-optimus-0", licence="Apache-2.0", gated=False,
        citation="Saillard et al., H-optimus-0, github.com/bioptimus/releases (2024)",
        sources=("HEST: HOptimus0InferenceEncoder (init_values 1e-5, dynamic_img_size False, mean/std)",
                 "TRIDENT: HOptimus0InferenceEncoder (vit_giant_patch14_reg4_dinov2, class token)"),
    ),
    EncoderConfig(
        name="h-optimus-1", title="H-optimus-1", route="timm", arch="vit_giant_patch14_reg4_dinov2",
        arch_kwargs={"img_size": 224, "init_values": 1e-5, "num_classes": 0, "global_pool": "token",
                     "dynamic_img_size": True},
        input_size=224, dim=1536, pooling="cls", prefix_tokens=5, params="1.1B",
        params_source="resources.bioptimus.com, H-Optimus-1 launch post (1.1 billion parameters)",
        mean=BIOPTIMUS_MEAN, std=BIOPTIMUS_STD, um_per_px=0.5, hub="bioptimus/H-optimus-1",
        licence="non-commercial (Bioptimus)", gated=True,
        citation="Bioptimus, H-optimus-1, huggingface.co/bioptimus/H-optimus-1 (2025)",
        sources=("TRIDENT: HOptimus1InferenceEncoder (same architecture and mean/std as H-optimus-0)",
                 "resources.bioptimus.com (1.1B parameters, access for academic research)"),
    ),
    EncoderConfig(
        name="h0-mini", title="H0-mini", route="timm", arch="vit_base_patch14_reg4_dinov2",
        arch_kwargs={"img_size": 224, "num_classes": 0, "global_pool": "token", "mlp_ratio": 2.66667 * 2,
                     "dynamic_img_size": True, **_SWIGLU},
        input_size=224, dim=768, pooling="cls", prefix_tokens=5, params="86M",
        params_source="derived: ViT-B/14, 4 registers, SwiGLU (the paper was not read here)", mean=BIOPTIMUS_MEAN,
        std=BIOPTIMUS_STD, um_per_px=0.5, hub="bioptimus/H0-mini", licence=_NC_ND, gated=True,
        citation="Filiot et al., Distilling foundation models for robust and efficient models in digital "
                 "pathology, arXiv:2501.16239",
        sources=("HEST and TRIDENT: H0MiniInferenceEncoder (SwiGLUPacked + SiLU, class token by default)",
                 "docs.bioptimus.com ModelSpec example (h0-mini: 224 px at 0.5 um/px, patch 14, mean/std)"),
        notes="SwiGLU hidden width not stated by the sources read: 2048 (DINOv2's rule, mlp_ratio "
              "2.66667*2) is the width that gives the published 86M. The card also offers class token + "
              "mean of patch tokens (1536-d); HEST and TRIDENT pool the class token, followed here.",
    ),
    EncoderConfig(
        name="prov-gigapath", title="Prov-GigaPath (tile encoder)", route="timm", arch="vit_giant_patch14_dinov2",
        arch_kwargs={"img_size": 224, "in_chans": 3, "patch_size": 16, "embed_dim": 1536, "depth": 40,
                     "num_heads": 24, "mlp_ratio": 5.33334, "num_classes": 0, "dynamic_img_size": True},
        input_size=224, dim=1536, pooling="cls", params="1.13B",
        params_source="derived: TRIDENT's architecture (the paper was not read here)", um_per_px=0.5,
        hub="prov-gigapath/prov-gigapath", licence="Apache-2.0",
        gated=True, citation="Xu et al., A whole-slide foundation model for digital pathology from "
                             "real-world data, Nature 2024",
        sources=("TRIDENT: GigaPathInferenceEncoder (local-checkpoint timm_kwargs: patch 16, 1536-d, 40 "
                 "blocks, 24 heads, mlp_ratio 5.33334; Resize 256 bicubic + CenterCrop 224, ImageNet)",),
        notes="timm's vit_giant_patch14_dinov2 brings SwiGLUPacked + SiLU and LayerScale. Its authors "
              "resize to 256 and centre-crop 224; stbench resizes the spot patch to 224 (no crop).",
    ),
    EncoderConfig(
        name="phikon-v2", title="Phikon-v2", route="transformers", arch="Dinov2Model",
        arch_kwargs={"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "patch_size": 16,
                     "image_size": 224, "mlp_ratio": 4, "layerscale_value": 1e-5, "use_swiglu_ffn": False,
                     "layer_norm_eps": 1e-6},
        input_size=224, dim=1024, pooling="cls", params="303M", params_source="derived: DINOv2 ViT-L/16",
        um_per_px=0.5, hub="owkin/phikon-v2", licence="non-commercial (Owkin)", gated=False,
        citation="Filiot et al., Phikon-v2, A large and public feature extractor for biomarker prediction, "
                 "arXiv:2409.09173",
        sources=("HEST and TRIDENT: Phikonv2InferenceEncoder (AutoModel owkin/phikon-v2, "
                 "last_hidden_state[:, 0], Resize+CenterCrop 224, ImageNet mean/std)",),
        notes="Built without weights from transformers' Dinov2Config; the hub's config.json was not "
              "readable here, so these fields are the ViT-L/16 DINOv2 the sources describe.",
    ),
    EncoderConfig(
        name="hibou-l", title="Hibou-L", route="transformers", arch="Dinov2WithRegistersModel",
        arch_kwargs={"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "patch_size": 14,
                     "image_size": 224, "num_register_tokens": 4, "mlp_ratio": 4, "layerscale_value": 1e-5,
                     "use_swiglu_ffn": True, "layer_norm_eps": 1e-6},
        input_size=224, dim=1024, pooling="cls", prefix_tokens=5, params="304M",
        params_source="derived: DINOv2 ViT-L/14, 4 registers, SwiGLU", mean=HIBOU_MEAN, std=HIBOU_STD,
        hub="histai/hibou-L", trust_remote_code=True, licence="Apache-2.0", gated=True,
        citation="Nechaev et al., Hibou: A Family of Foundational Vision Transformers for Pathology, "
                 "arXiv:2406.05074",
        sources=("HIBOU: build_model (patch 14, 4 registers, swiglufused FFN, LayerScale 1e-5), README",
                 "TRIDENT: HibouLInferenceEncoder (pooler_output = class token; bicubic 224; hibou mean/std)",
                 "HEST: HibouLargeInferenceEncoder (last_hidden_state[:, 0])"),
        notes="Published weights load through the hub's own modelling code (trust_remote_code); without "
              "weights the same architecture is transformers' Dinov2WithRegistersModel. um/px not pinned.",
    ),
    EncoderConfig(
        name="midnight-12k", title="Midnight-12k", route="transformers", arch="Dinov2Model",
        arch_kwargs={"hidden_size": 1536, "num_hidden_layers": 40, "num_attention_heads": 24, "patch_size": 14,
                     "image_size": 224, "mlp_ratio": 4, "layerscale_value": 1e-5, "use_swiglu_ffn": True,
                     "layer_norm_eps": 1e-6},
        input_size=224, dim=3072, pooling="cls+mean", params="1.13B",
        params_source="derived: DINOv2 ViT-g/14 (the paper and model card were not read here)", mean=HALF, std=HALF,
        hub="kaiko-ai/midnight", licence="MIT", gated=False,
        citation="Karasikov et al., Training state-of-the-art pathology foundation models with orders of "
                 "magnitude less data, arXiv:2504.05186",
        sources=("TRIDENT: Midnight12kInferenceEncoder (AutoModel kaiko-ai/midnight, Resize+CenterCrop 224, "
                 "mean/std 0.5; return_type 'cls_token' or 'cls+mean')",),
        notes="TRIDENT defaults to the class token (1536-d); the model card's classification embedding is "
              "class token + mean of patch tokens (3072-d), followed here. um/px not pinned (trained "
              "across magnifications).",
    ),
    EncoderConfig(
        name="uni-small-random", title="UNI stand-in (random, CPU)", route="timm", arch="vit_tiny_patch16_224",
        arch_kwargs={"img_size": 64, "patch_size": 16, "depth": 1, "embed_dim": 96, "num_heads": 3,
                     "num_classes": 0, "global_pool": "avg", "dynamic_img_size": True},
        input_size=64, dim=96, pooling="mean", params="188K", params_source="derived: one-block ViT, 96-d",
        pretrained=False,
        notes="For the small profiles: a 3,600-spot cohort with 3x3 sub-tiles encodes in ~13 s on 2 CPU "
              "cores. No LayerScale: with random weights it would scale every block to ~0.",
    ),
    EncoderConfig(
        name="resnet50-small-random", title="ResNet-50 stand-in (random, CPU)", route="timm", arch="resnet18",
        arch_kwargs={"num_classes": 0, "global_pool": "avg"}, input_size=64, dim=512, pooling="avgpool",
        prefix_tokens=0, params="11.2M", params_source="derived: ResNet-18 without its head", pretrained=False,
    ),
)
