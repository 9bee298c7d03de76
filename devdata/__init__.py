"""Development data: the demo (``seed_demo``) and the generated benchmark
datasets (``generate_dataset``). It writes through the domain apps'
services, above every one of them; the domain apps never import it."""
