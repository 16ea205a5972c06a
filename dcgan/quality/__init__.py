"""How good a generator is: the judges (small classifiers of a dataset's classes and attributes) and the
metrics (FID, KID, precision/recall, class coverage, memorisation, attribute shares) in a stated feature
space, with the real-vs-real floor beside each number.

May import: the base modules, dcgan.data, dcgan.nets and dcgan.store.
"""
