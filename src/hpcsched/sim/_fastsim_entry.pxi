# The kernel's Python entry point (included by _fastsim.pyx): checks the arrays, builds the
# engine, runs it and returns the schedule.

cdef bint _indices_ok(const i64[::1] values, i64 bound) noexcept:
    cdef Py_ssize_t k
    for k in range(values.shape[0]):
        if values[k] < 0 or values[k] >= bound:
            return False
    return True


def simulate(
    const double[::1] submit,
    const double[::1] runtime,
    const double[::1] estimate,
    const double[::1] timelimit,
    const i64[::1] request,
    const i64[::1] submit_order,
    const i64[::1] rank,
    const i64[::1] backfill_rank,
    const i64[::1] priority_class,
    Py_ssize_t n_classes,
    const double[::1] key_r,
    const double[::1] key_den,
    i64 capacity,
    int variant,
    int order_kind,
    int backfill_kind,
    bint sticky_head,
    bint event_release,
    double[::1] start,
    double[::1] end,
    unsigned char[::1] backfilled,
):
    """Run the jobs; fill ``start``, ``end``, ``backfilled``; return how many never started.

    Inputs are validated by :func:`hpcsched.sim.fast.replay_fast`; this only checks shapes.
    """
    cdef Py_ssize_t n = submit.shape[0]
    cdef _Engine engine
    lengths = (
        runtime.shape[0], estimate.shape[0], timelimit.shape[0], request.shape[0],
        submit_order.shape[0], rank.shape[0], backfill_rank.shape[0], priority_class.shape[0],
        key_r.shape[0], key_den.shape[0], start.shape[0], end.shape[0], backfilled.shape[0],
    )
    if min(lengths) != n or max(lengths) != n:
        raise ValueError("every job array must have one entry per job")
    if n == 0:
        return 0
    # bounds checks are off: refuse codes and indices that would read outside the arrays
    if variant not in VARIANT_CODES.values() or order_kind not in (KEY_STATIC, KEY_WFP3, KEY_UNICEP):
        raise ValueError(f"unknown variant or order code ({variant}, {order_kind})")
    if backfill_kind not in KEY_CODES.values() or (
        variant == V_RLSCHEDULER and backfill_kind != KEY_STATIC
    ):
        raise ValueError(f"backfill code {backfill_kind} does not fit variant {variant}")
    if not _indices_ok(submit_order, n) or not _indices_ok(priority_class, n_classes):
        raise ValueError("submit_order must index the jobs, priority_class lie in [0, n_classes)")
    engine = _Engine()
    engine.n = n
    engine.submit = &submit[0]
    engine.runtime = &runtime[0]
    engine.estimate = &estimate[0]
    engine.timelimit = &timelimit[0]
    engine.req = &request[0]
    engine.sub_order = &submit_order[0]
    engine.rank = &rank[0]
    engine.bf_rank = &backfill_rank[0]
    engine.pclass = &priority_class[0]
    engine.n_classes = n_classes
    engine.key_r = &key_r[0]
    engine.key_den = &key_den[0]
    engine.capacity = capacity
    engine.variant = variant
    engine.order_kind = order_kind
    engine.bf_kind = backfill_kind
    engine.sticky = sticky_head
    engine.event_release = event_release
    engine.start_out = &start[0]
    engine.end_out = &end[0]
    engine.bf_out = &backfilled[0]
    engine.allocate()
    run(engine)
    return engine.qn
