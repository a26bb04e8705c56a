using System.Runtime.InteropServices;
using RdmaCs.Bindings.Plugin;
using RdmaCs.Transfer;

namespace RdmaCs.Native;

/// <summary>The host's (QEMU's) callbacks, copied out of its struct: logging and "should I give up?".</summary>
internal sealed unsafe class HostApi(rdma_cs_host_api* api)
{
    private readonly void* _opaque = api->opaque;
    private readonly delegate* unmanaged<void*, int, sbyte*, void> _log = api->log;
    private readonly delegate* unmanaged<void*, int> _shouldAbort = api->should_abort;

    /// <summary>The host's ABI version (major in the high 16 bits).</summary>
    public uint AbiVersion { get; } = api->abi_version;

    /// <summary>
    /// ABI 1.2 on: the host counts the plugin's backlog as pending memory and credits bytes when they land, so a ROUND
    /// may end with pages still to write. Older hosts would stop the guest with the backlog unseen.
    /// </summary>
    public bool CountsBacklog => (AbiVersion & 0xffff) >= 2;

    public void Log(int level, string message)
    {
        if (_log == null)
        {
            return;
        }
        nint text = Marshal.StringToCoTaskMemUTF8("rdma-cs: " + message);
        try
        {
            _log(_opaque, level, (sbyte*)text);
        }
        finally
        {
            Marshal.FreeCoTaskMem(text);
        }
    }

    /// <summary>The engine's log, forwarded to the host at the matching level.</summary>
    public EngineLog EngineLog => (level, message) => Log(level switch
    {
        EngineLogLevel.Error => (int)rdma_cs_log_level.RDMA_CS_LOG_ERROR,
        EngineLogLevel.Warning => (int)rdma_cs_log_level.RDMA_CS_LOG_WARN,
        EngineLogLevel.Info => (int)rdma_cs_log_level.RDMA_CS_LOG_INFO,
        _ => (int)rdma_cs_log_level.RDMA_CS_LOG_DEBUG,
    }, message);

    public bool ShouldAbort => _shouldAbort != null && _shouldAbort(_opaque) != 0;
}
