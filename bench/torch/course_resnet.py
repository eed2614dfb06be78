"""The course ResNet in PyTorch, with tsdl's layer names (models.resnet): block1 (7x7/2 conv, bias), block2.1 ...
block5.1, classifier. The benches' one copy: bench/torch/resnet.py times it on the CPU, bench/gpu/resnet_torch.py on
CUDA (the GPU proof's build copies this file beside it). 11,180,682 parameters; 96 px -> 45 (stem) -> 22 (3x3/2 max
pool) -> 11 -> 6 -> 3 -> 1 (3x3 avg pool).
"""
import torch
from torch import nn
import torch.nn.functional as F


class Residual(nn.Module):
    """Two 3x3 conv + BN + ReLU; a strided 1x1 conv with bias (no BN) projects the shortcut when the shape changes.
    ReLU before the addition and after it, as the course has it."""

    def __init__(self, cin, cout, same_shape=True):
        super().__init__()
        stride = 1 if same_shape else 2
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv3 = None if same_shape else nn.Conv2d(cin, cout, 1, stride=stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(out + (x if self.conv3 is None else self.conv3(x)))


class CourseResNet(nn.Module):
    """Layer names as tsdl's models.resnet: block1 (7x7/2 conv, bias), block2.1 ... block5.1, classifier."""

    def __init__(self, in_channels=3, num_classes=10):
        super().__init__()
        self.block1 = nn.Conv2d(in_channels, 64, 7, stride=2)
        self.block2 = nn.ModuleDict({"1": Residual(64, 64), "2": Residual(64, 64)})
        self.block3 = nn.ModuleDict({"0": Residual(64, 128, False), "1": Residual(128, 128)})
        self.block4 = nn.ModuleDict({"0": Residual(128, 256, False), "1": Residual(256, 256)})
        self.block5 = nn.ModuleDict({"0": Residual(256, 512, False), "1": Residual(512, 512)})
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x):
        x = F.max_pool2d(self.block1(x), 3, 2)
        for stage in (self.block2, self.block3, self.block4, self.block5):
            for block in stage.values():
                x = block(x)
        x = F.avg_pool2d(x, 3)
        return self.classifier(torch.flatten(x, 1))
