# cython: language_level=3
"""What the compiled engine holds (its logic is in ``_fastsim.pyx``).

Job arrays are borrowed from the caller (:func:`hpcsched.sim.fast.prepare`) for the length of one
``simulate`` call; everything else is owned C memory, freed with the engine.
"""

cimport cython

from ._containers cimport EndList, EventHeap, SortItem, TimeSet, i64
from ._profile cimport Profile


@cython.final
cdef class _Engine:
    # inputs (borrowed from the caller's arrays for the duration of simulate())
    cdef Py_ssize_t n
    cdef const double* submit
    cdef const double* runtime
    cdef const double* estimate
    cdef const double* timelimit
    cdef const i64* req
    cdef const i64* sub_order
    cdef const i64* rank
    cdef const i64* bf_rank
    cdef const i64* pclass
    cdef const double* key_r
    cdef const double* key_den
    cdef i64 capacity
    cdef i64 min_req
    cdef Py_ssize_t n_classes
    cdef int variant, order_kind, bf_kind
    cdef bint sticky, event_release
    # outputs
    cdef double* start_out
    cdef double* end_out
    cdef unsigned char* bf_out
    # per job
    cdef unsigned char* state
    cdef double* exp_end  # running: RunningJob.expected_end (extended on estimate_over)
    cdef double* held  # conservative: reservation start (NaN: none yet)
    cdef double* contrib  # conservative: end of the running job's share of the kept profile
    cdef int* ext_jobs  # conservative: jobs extended by this instant's estimate_over events
    cdef double* ext_a  # ... and the range each extension took: [ext_a, ext_b)
    cdef double* ext_b
    cdef Py_ssize_t ext_n
    # waiting jobs
    cdef int* queue
    cdef Py_ssize_t qn
    cdef int* bfq  # waiting jobs in backfill-scan order (static backfill key, or FCFS)
    cdef Py_ssize_t bfn
    cdef int* ordered  # this pass's queue order: queue itself, or order_buf
    cdef Py_ssize_t ord_n
    cdef int* order_buf
    cdef int* tail_buf
    cdef int* tail
    cdef Py_ssize_t tail_n
    cdef SortItem* items
    cdef int displaced  # sticky head moved to the front of queue for this pass
    # running jobs
    cdef EndList running  # by expected end
    cdef EndList planned  # rlscheduler: by planned end (start + estimate, never extended)
    cdef EndList fresh  # started earlier in this pass, by expected end
    cdef i64 used
    # this pass's decision
    cdef int* started
    cdef unsigned char* started_bf
    cdef Py_ssize_t sn
    cdef double wake
    # events: submissions are streamed in (submit, index) order, the rest go through the heap
    cdef EventHeap heap
    cdef TimeSet wakes
    # profiles
    cdef Profile prof  # conservative: kept across passes; prioritybf: the running jobs'
    cdef Profile* levels
    cdef Py_ssize_t n_levels
    cdef i64* class_count
    # policy memory, clock
    cdef int mem_head
    cdef double mem_shadow
    cdef double now
    cdef double horizon  # release="event": an overdue job holds its processors until then
    cdef int kind

    cdef int allocate(self) except -1
    cdef void set_now(self, double t) noexcept
    cdef double effective_end(self, double end) noexcept
    cdef i64 free_listing(self) noexcept
    cdef i64 free_profile(self) noexcept
    cdef int running_profile(self, Profile* p, bint record) except -1
    cdef void enqueue(self, int j) noexcept
    cdef double dynamic_key(self, int kind, int j) noexcept
    cdef void sort_jobs(self, const int* src, Py_ssize_t m, int kind, bint by_class, int* dst) noexcept
    cdef void build_ordered(self) noexcept
    cdef void backfill_tail(self, Py_ssize_t head_pos) noexcept
    cdef void add_start(self, int j, bint backfilled) noexcept
