"""The parula colour table of the "Parula (CivitAI)" render, as data (docs/inference.md, "Conditioning renders").

Source: OpenCV's ``COLORMAP_PARULA`` (``modules/imgproc/src/colormap.cpp``: MATLAB's parula given at 64 points,
interpolated linearly to 256 entries and rounded to uint8), the table that ``cv2.applyColorMap`` uses and so the
one comfyui_controlnet_aux's DensePose preprocessor paints with. Written here as 256 RGB triples, 16 per line.
"""

from __future__ import annotations

import numpy as np

_PARULA_HEX = (
    "352a87332c8a322e8d302f8f2f31922d33952c35982a379b28389e273aa0253ca3243ea6223fa92141ac1f43af1d45b1"
    "1c47b41a48b7194aba174cbd164ebf1450c21251c51153c80f55cb0e57ce0c58d00b5ad3095cd6085ed90660dc0461df"
    "0363e10464e10465e00566e00567df0668df066adf076bde076cde086ddd086edd096fdc0970dc0a71dc0b72db0b73db"
    "0c74da0c75da0d76da0d77d90e78d90e7ad80f7bd80f7cd8107dd7107ed7117fd61180d61281d61382d51383d51484d4"
    "1485d41386d31387d31388d3128ad2128bd2118cd1118dd1108ed0108fd00f90d00f91cf0f92cf0e93ce0e94ce0d95cd"
    "0d96cd0c97cc0c98cc0c9acc0b9bcb0b9ccb0a9dca0a9eca099fc909a0c908a1c808a2c808a3c807a4c707a5c706a6c6"
    "07a7c608a8c40aa8c30ba9c20da9c10eaabf10abbe12abbd13acbb15acba16adb918adb819aeb61bafb51dafb41eb0b3"
    "20b0b121b1b023b1af24b2ae26b3ac28b3ab29b4aa2bb4a92cb5a72eb5a62fb6a531b6a433b7a234b8a136b8a037b99f"
    "39b99d3cb99c3fb99b42ba9945ba9848ba974aba954dba9450bb9353bb9156bb9058bb8e5bbb8d5ebc8c61bc8a64bc89"
    "67bc8869bc866cbc856fbd8472bd8275bd8178bd807abd7e7dbe7d80be7c83be7a86be7988be788bbf768ebf7591bf74"
    "93bf7296bf7298bf719abe709cbe6f9fbe6ea1be6da3be6ca5be6ba7bd6aaabd69acbd68aebd68b0bd67b3bd66b5bd65"
    "b7bc64b9bc63bbbc62bebc61c0bc60c2bc5fc4bb5ec7bb5ec9bb5dcbbb5ccdbb5bd0bb5ad2bb59d4ba58d6ba57d8ba56"
    "daba55dbbb54dcbc53ddbc51debd50dfbe4fe0be4ee2bf4ce3bf4be4c04ae5c149e6c147e7c246e8c345e9c343eac442"
    "ebc541ecc540eec63eefc63df0c73cf1c83bf2c839f3c938f4ca37f5ca36f6cb34f7cb33f9cc32facd31fbcd2ffcce2e"
    "fccf2dfcd12cfcd22bfcd32afcd529fbd628fbd827fbd926fbdb25fbdc24fbdd23fbdf22fbe021fbe220fbe31ffbe41e"
    "fae61dfae71cfae91bfaea1afaeb19faed18faee17faf016faf115faf314f9f413f9f512f9f711f9f810f9fa0ff9fb0e"
)

PARULA_RGB = np.frombuffer(bytes.fromhex("".join(_PARULA_HEX)), np.uint8).reshape(256, 3)  # (256, 3) uint8 RGB
