"""An IPython kernel with a memory limit, for grading: ``python -m autograder.limited_kernel -f FILE``.

The limit (bytes of address space, ``BATCHNORM_KERNEL_MEMORY``) applies to the kernel
only, so a submission that allocates more than the machine has gets a MemoryError
in its own cell instead of taking the grader down.
"""
import os
import resource


def main():
    limit = int(os.environ.get("BATCHNORM_KERNEL_MEMORY", "0"))
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
