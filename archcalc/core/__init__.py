"""Build -> trace -> count: a model (timm name or module) built on a device, one traced forward,
its stages, global stride, final k x k map, MACs and memory. The only layer importing timm."""
