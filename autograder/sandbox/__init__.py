"""The sandbox: student notebooks run in separate, confined processes.

The grader's side is ``client`` (``Template``, ``SandboxSubmission``); the warm
``template`` process forks one sandbox per notebook, each running ``server``, which
confines itself (``limits``), runs the cells (``cells``) and answers calls through a
``dispatch.Dispatcher``. Both sides speak ``protocol`` over ``codec``. ``client``'s
docstring is the reference for what is enforced and how.
"""
