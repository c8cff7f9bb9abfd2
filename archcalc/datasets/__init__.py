"""Data sets read fast, without torch: image and object sizes from annotation files and image
headers (COCO, Pascal VOC, YOLO, ImageFolder, a plain CSV), summarised as a ``DatasetStats``."""
