namespace RdmaCs.Bindings.LibFabric;

// The static inline functions of libfabric's headers that rdma-cs calls, written as the headers write them:
// each dispatches through the object's ops table. Names and argument orders are the C ones, so the man pages
// (fi_endpoint(3), fi_rma(3), fi_cq(3), ...) apply as they are.
public static unsafe partial class Fi
{
    // fabric.h
    public static int fi_close(fid* f) => f->ops->close(f);

    public static int fi_control(fid* f, int command, void* arg) => f->ops->control(f, command, arg);

    public static int fi_domain(fid_fabric* fabric, fi_info* info, fid_domain** domain, void* context) =>
        fabric->ops->domain(fabric, info, domain, context);

    public static int fi_passive_ep(fid_fabric* fabric, fi_info* info, fid_pep** pep, void* context) =>
        fabric->ops->passive_ep(fabric, info, pep, context);

    public static int fi_eq_open(fid_fabric* fabric, fi_eq_attr* attr, fid_eq** eq, void* context) =>
        fabric->ops->eq_open(fabric, attr, eq, context);

    // fi_domain.h
    public static int fi_av_open(fid_domain* domain, fi_av_attr* attr, fid_av** av, void* context) =>
        domain->ops->av_open(domain, attr, av, context);

    public static int fi_av_insert(fid_av* av, void* addr, nuint count, ulong* fiAddr, ulong flags, void* context) =>
        av->ops->insert(av, addr, count, fiAddr, flags, context);

    public static int fi_cq_open(fid_domain* domain, fi_cq_attr* attr, fid_cq** cq, void* context) =>
        domain->ops->cq_open(domain, attr, cq, context);

    public static int fi_mr_reg(fid_domain* domain, void* buf, nuint len, ulong access, ulong offset, ulong requestedKey,
        ulong flags, fid_mr** mr, void* context) =>
        domain->mr->reg(&domain->fid, buf, len, access, offset, requestedKey, flags, mr, context);

    public static void* fi_mr_desc(fid_mr* mr) => mr->mem_desc;

    public static ulong fi_mr_key(fid_mr* mr) => mr->key;

    // fi_endpoint.h
    public static int fi_endpoint(fid_domain* domain, fi_info* info, fid_ep** ep, void* context) =>
        domain->ops->endpoint(domain, info, ep, context);

    public static int fi_ep_bind(fid_ep* ep, fid* bfid, ulong flags) => ep->fid.ops->bind(&ep->fid, bfid, flags);

    public static int fi_pep_bind(fid_pep* pep, fid* bfid, ulong flags) => pep->fid.ops->bind(&pep->fid, bfid, flags);

    public static int fi_getopt(fid* f, int level, int optname, void* optval, nuint* optlen) =>
        ((fid_ep*)f)->ops->getopt(f, level, optname, optval, optlen);

    public static int fi_enable(fid_ep* ep) => ep->fid.ops->control(&ep->fid, (int)FI_ENABLE, null);

    // fi_cm.h
    public static int fi_getname(fid* f, void* addr, nuint* addrlen) => ((fid_ep*)f)->cm->getname(f, addr, addrlen);

    public static int fi_listen(fid_pep* pep) => pep->cm->listen(pep);

    public static int fi_connect(fid_ep* ep, void* addr, void* param, nuint paramlen) => ep->cm->connect(ep, addr, param, paramlen);

    public static int fi_accept(fid_ep* ep, void* param, nuint paramlen) => ep->cm->accept(ep, param, paramlen);

    public static int fi_reject(fid_pep* pep, fid* handle, void* param, nuint paramlen) => pep->cm->reject(pep, handle, param, paramlen);

    public static int fi_shutdown(fid_ep* ep, ulong flags) => ep->cm->shutdown(ep, flags);

    // fi_rma.h
    public static nint fi_write(fid_ep* ep, void* buf, nuint len, void* desc, ulong destAddr, ulong addr, ulong key, void* context) =>
        ep->rma->write(ep, buf, len, desc, destAddr, addr, key, context);

    public static nint fi_writemsg(fid_ep* ep, fi_msg_rma* msg, ulong flags) => ep->rma->writemsg(ep, msg, flags);

    public static nint fi_read(fid_ep* ep, void* buf, nuint len, void* desc, ulong srcAddr, ulong addr, ulong key, void* context) =>
        ep->rma->read(ep, buf, len, desc, srcAddr, addr, key, context);

    // fi_eq.h
    public static nint fi_eq_sread(fid_eq* eq, uint* @event, void* buf, nuint len, int timeout, ulong flags) =>
        eq->ops->sread(eq, @event, buf, len, timeout, flags);

    public static nint fi_eq_readerr(fid_eq* eq, fi_eq_err_entry* buf, ulong flags) => eq->ops->readerr(eq, buf, flags);

    public static nint fi_cq_read(fid_cq* cq, void* buf, nuint count) => cq->ops->read(cq, buf, count);

    public static nint fi_cq_sread(fid_cq* cq, void* buf, nuint count, void* cond, int timeout) => cq->ops->sread(cq, buf, count, cond, timeout);

    public static nint fi_cq_readerr(fid_cq* cq, fi_cq_err_entry* buf, ulong flags) => cq->ops->readerr(cq, buf, flags);

    public static sbyte* fi_cq_strerror(fid_cq* cq, int provErrno, void* errData, sbyte* buf, nuint len) =>
        cq->ops->strerror(cq, provErrno, errData, buf, len);
}
