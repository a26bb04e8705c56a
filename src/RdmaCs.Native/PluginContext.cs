using System.Runtime.InteropServices;
using RdmaCs.Bindings.Plugin;

namespace RdmaCs.Native;

/// <summary>
/// One plugin instance (what QEMU's <c>void *ctx</c> points to: a GC handle to this object). The role-specific
/// work is in <see cref="SourcePlugin"/> and <see cref="DestinationPlugin"/>.
/// </summary>
internal abstract unsafe class PluginContext : IDisposable
{
    private volatile bool _cancelled;

    protected PluginContext(HostApi host, PluginOptions options, string hostName, string port, int pageSize)
    {
        Host = host;
        Options = options;
        // QEMU passes HOST of rdma-cs:HOST:PORT as written: an IPv6 address comes bracketed ("[::]" is libvirt's
        // default listen address), which neither sockets nor libfabric take.
        HostName = hostName.StartsWith('[') && hostName.EndsWith(']') ? hostName[1..^1] : hostName;
        Port = port;
        PageSize = pageSize;
    }

    public HostApi Host { get; }
    public PluginOptions Options { get; }
    public string HostName { get; }
    public string Port { get; }
    public int PageSize { get; }
    public bool Cancelled => _cancelled;

    /// <summary>Idempotent, any thread: blocked calls end soon, later calls return -ECANCELED.</summary>
    public void Cancel()
    {
        _cancelled = true;
        OnCancel();
    }

    protected abstract void OnCancel();

    public abstract void Dispose();

    public virtual void FillStatistics(rdma_cs_stats* statistics)
    {
    }

    /// <summary>
    /// Runs blocking work on a thread of its own while this (the host's) thread polls <c>should_abort</c> every
    /// 100 ms, as the ABI requires; on abort the work is cancelled and -ECANCELED returned once it has ended.
    /// </summary>
    protected int RunPolled(string call, Action work)
    {
        Task task = Task.Factory.StartNew(work, TaskCreationOptions.LongRunning);
        bool aborted = false;
        // WaitAny, not Wait: it does not throw when the work failed; the failure is read below.
        while (Task.WaitAny([task], TimeSpan.FromMilliseconds(100)) < 0)
        {
            if (!aborted && (Cancelled || Host.ShouldAbort))
            {
                aborted = true;
                Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_WARN, $"{call}: the migration is being cancelled");
                Cancel();
            }
        }
        if (aborted || Cancelled)
        {
            return -Errno.ECANCELED;
        }
        if (task.Exception is { } failure)
        {
            Exception error = Errno.Root(failure);
            Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_ERROR, $"{call}: {error.Message}");
            return -Errno.From(error);
        }
        return RdmaCsAbi.RDMA_CS_OK;
    }

    /// <summary>
    /// Copies the host's block table: names, addresses, lengths, and whether each block is private anonymous memory
    /// (only then may never-touched pages be taken as zero; see <see cref="IsPrivateAnonymous"/>). Logs each block's kind.
    /// </summary>
    protected RamBlock[] Blocks(rdma_cs_block* blocks, uint count)
    {
        if (blocks == null || count == 0)
        {
            throw new ArgumentException("no RAM blocks");
        }
        var table = new RamBlock[count];
        for (int i = 0; i < count; i++)
        {
            string name = Marshal.PtrToStringUTF8((nint)blocks[i].idstr) ?? throw new ArgumentException($"RAM block {i} has no idstr");
            table[i] = new RamBlock(name, (nint)blocks[i].host, (long)blocks[i].used_length, IsPrivateAnonymous(blocks[i]));
            Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_DEBUG,
                $"RAM block '{name}': {Configuration.ByteSize.FormatApproximate(table[i].Length)}, {DescribeBacking(blocks[i])}");
        }
        return table;
    }

    /// <summary>
    /// True only when the host says so (ABI 1.1's RDMA_CS_BLOCK_F_PRIVATE_ANON, which a 1.0 host never sets) and nothing
    /// contradicts it (no shared, file or huge-page flag, no backing file descriptor).
    /// </summary>
    internal static bool IsPrivateAnonymous(in rdma_cs_block block) =>
        (block.flags & RdmaCsAbi.RDMA_CS_BLOCK_F_PRIVATE_ANON) != 0 &&
        (block.flags & (RdmaCsAbi.RDMA_CS_BLOCK_F_SHARED | RdmaCsAbi.RDMA_CS_BLOCK_F_FILE | RdmaCsAbi.RDMA_CS_BLOCK_F_HUGETLB)) == 0 &&
        block.fd < 0;

    private static string DescribeBacking(in rdma_cs_block block)
    {
        if (IsPrivateAnonymous(block))
        {
            return "private anonymous (never-touched pages are zero)";
        }
        string[] kinds =
        [
            .. (block.flags & RdmaCsAbi.RDMA_CS_BLOCK_F_SHARED) != 0 ? ["shared"] : Array.Empty<string>(),
            .. (block.flags & RdmaCsAbi.RDMA_CS_BLOCK_F_FILE) != 0 || block.fd >= 0 ? ["file-backed"] : Array.Empty<string>(),
            .. (block.flags & RdmaCsAbi.RDMA_CS_BLOCK_F_HUGETLB) != 0 ? ["huge pages"] : Array.Empty<string>(),
        ];
        return $"{(kinds.Length > 0 ? string.Join(", ", kinds) : "backing not stated by the host")}: every page is read";
    }
}
