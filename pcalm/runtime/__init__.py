"""The ground floor, torch-free where it can be: thread counts, the C++ kernel cache, the machine
record, exit codes, the names of the choices and the exceptions the commands catch. Every layer
may use it; it uses nothing else of ours."""
