"""The engine: the algorithms' configurations (BP, PC, PCALM), the energy L_rho with its local
rules, the schedule resolved once (:mod:`pcalm.engine.schedule`), the reference loop
(:mod:`pcalm.engine.inference`, the specification), eta = 1/lambda_max, the result and the
``.grad`` writer, and the fast path of the same schedule for the residual MLP
(:mod:`pcalm.engine.stacked`). It uses models/ and runtime/, nothing above them."""
