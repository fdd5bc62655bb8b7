"""Whether ``torch.compile`` can build its CPU kernels here: inductor compiles them with a C++ compiler at run time."""


def cpp_compiler_missing() -> str:
    """Why inductor finds no C++ compiler (the first line of its error), or "" when it finds one."""
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()
    except Exception as error:  # inductor's InvalidCxxCompiler, or whatever its search raises
        return (str(error).strip().splitlines() or [type(error).__name__])[0]
    return ""
