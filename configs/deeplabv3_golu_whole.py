# DeepLabV3 R50-D8, ADE20K 512x512, 80k, with GoLU in the whole model: backbone, ASPP decode head
# and auxiliary FCN head.
_base_ = './deeplabv3_golu.py'
model = dict(
    decode_head=dict(act_cfg={{_base_.act_cfg}}),
    auxiliary_head=dict(act_cfg={{_base_.act_cfg}}))
