"""The stand-alone tools, shipped inside the package as `sampleloans.tools` (export --bag)."""
