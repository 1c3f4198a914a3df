"""Medical image segmentation: the mask is the generated field, the image (one or more modalities) the condition.

Modules: :mod:`.io` (NIfTI with affine and spacing), :mod:`.templates` (MNI152 / Colin27 on disk),
:mod:`.decathlon` (user data in the Medical Segmentation Decathlon layout), :mod:`.synthetic` (images with known
masks), :mod:`.transforms`, :mod:`.splits`, :mod:`.datasets`, :mod:`.data` (the LightningDataModule),
:mod:`.surface`, :mod:`.metrics`, :mod:`.ensemble`, :mod:`.calibration` (evaluation), :mod:`.blocks` and
:mod:`.denoisers` (networks), :mod:`.inference` (sliding window) and :mod:`.pictures` (overlays).
"""
