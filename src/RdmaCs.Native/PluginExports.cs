using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RdmaCs.Bindings.Plugin;

namespace RdmaCs.Native;

/// <summary>
/// The engine's C entry points; the shim (shim/rdmacs-qemu.c) puts them into the ops table QEMU calls. No
/// exception crosses this boundary: each returns 0, a positive status or a negative errno, and says why
/// through the host's log. <c>ctx</c> is a GC handle to a <see cref="PluginContext"/>.
/// </summary>
public static unsafe class PluginExports
{
    /// <summary>The shim's first call, when the plugin is loaded: the runtime starts here.</summary>
    [UnmanagedCallersOnly(EntryPoint = "rdmacs_engine_abi_version")]
    public static uint AbiVersion() => RdmaCsAbi.RDMA_CS_ABI_VERSION;

    /// <summary>
    /// The shim's second call: it loads libfabric in the background and hands over how to wait for that, which the
    /// engine does before loading libfabric itself (see <see cref="RdmaCs.Fabric.LibFabric.FabricLibrary.PreloadedBy"/>).
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "rdmacs_engine_fabric_preloaded_by")]
    public static void FabricPreloadedBy(delegate* unmanaged<void> wait) => RdmaCs.Fabric.LibFabric.FabricLibrary.PreloadedBy(wait);

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_create")]
    public static int Create(rdma_cs_host_api* host, rdma_cs_config* config, void** ctx)
    {
        if (host == null || config == null || ctx == null)
        {
            return -Errno.EINVAL;
        }
        var api = new HostApi(host);
        try
        {
            *ctx = null;
            if (RdmaCsAbi.RDMA_CS_ABI_MAJOR_OF(host->abi_version) != RdmaCsAbi.RDMA_CS_ABI_MAJOR)
            {
                api.Log((int)rdma_cs_log_level.RDMA_CS_LOG_ERROR, $"host ABI {host->abi_version >> 16}.{host->abi_version & 0xffff} is not {RdmaCsAbi.RDMA_CS_ABI_MAJOR}.x");
                return -Errno.EINVAL;
            }
            PluginOptions options = PluginOptions.Parse(Marshal.PtrToStringUTF8((nint)config->options));
            string hostName = Marshal.PtrToStringUTF8((nint)config->host) ?? throw new ArgumentException("config->host is NULL");
            string port = Marshal.PtrToStringUTF8((nint)config->port) ?? throw new ArgumentException("config->port is NULL");
            ulong pageSize = config->target_page_size;
            if (pageSize is < 512 or > 1 << 30 || (pageSize & (pageSize - 1)) != 0)
            {
                throw new ArgumentException($"target page size {pageSize} is not a power of two");
            }
            PluginContext context = config->role switch
            {
                (uint)rdma_cs_role.RDMA_CS_ROLE_SOURCE => new SourcePlugin(api, options, hostName, port, (int)pageSize),
                (uint)rdma_cs_role.RDMA_CS_ROLE_DEST => new DestinationPlugin(api, options, hostName, port, (int)pageSize),
                _ => throw new ArgumentException($"role {config->role} is neither source nor destination"),
            };
            *ctx = (void*)GCHandle.ToIntPtr(GCHandle.Alloc(context));
            return RdmaCsAbi.RDMA_CS_OK;
        }
        catch (Exception e)
        {
            api.Log((int)rdma_cs_log_level.RDMA_CS_LOG_ERROR, $"create: {e.Message}");
            return -Errno.From(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_cancel")]
    public static void Cancel(void* ctx)
    {
        if (Context(ctx) is { } context)
        {
            try
            {
                context.Cancel();
            }
            catch (Exception e)
            {
                context.Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_WARN, $"cancel: {e.Message}");
            }
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_destroy")]
    public static void Destroy(void* ctx)
    {
        if (Context(ctx) is not { } context)
        {
            return;
        }
        try
        {
            context.Cancel();
            context.Dispose();
        }
        catch (Exception e)
        {
            context.Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_ERROR, $"destroy: {e.Message}");
        }
        finally
        {
            GCHandle.FromIntPtr((nint)ctx).Free();
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_src_setup")]
    public static int SourceSetup(void* ctx, rdma_cs_block* blocks, uint count, byte* blob, uint* blobLength) =>
        Call(ctx, "src_setup", context => As<SourcePlugin>(context).Setup(blocks, count, blob, blobLength));

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_src_wait_ready")]
    public static int SourceWaitReady(void* ctx) => Call(ctx, "src_wait_ready", context => As<SourcePlugin>(context).WaitReady());

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_src_iter_begin")]
    public static int SourceIterationBegin(void* ctx, uint phase, ulong sequence) =>
        Call(ctx, "src_iter_begin", _ => RdmaCsAbi.RDMA_CS_OK);

    /// <summary>Called for every dirty page: kept free of delegates and allocation.</summary>
    [UnmanagedCallersOnly(EntryPoint = "rdmacs_src_save_page")]
    public static int SourceSavePage(void* ctx, uint block, ulong offset, ulong length, void* host)
    {
        if (ctx == null)
        {
            return -Errno.EINVAL;
        }
        try
        {
            if (GCHandle.FromIntPtr((nint)ctx).Target is SourcePlugin source)
            {
                return source.SavePage(block, offset, length);
            }
            return -Errno.EINVAL;
        }
        catch (Exception e)
        {
            return Failed(ctx, "src_save_page", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_src_iter_end")]
    public static int SourceIterationEnd(void* ctx, uint phase, ulong sequence) =>
        Call(ctx, "src_iter_end", context => As<SourcePlugin>(context).IterationEnd(phase, sequence));

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_dst_setup")]
    public static int DestinationSetup(void* ctx, rdma_cs_block* blocks, uint count, byte* blob, uint blobLength) =>
        Call(ctx, "dst_setup", context => As<DestinationPlugin>(context).Setup(blocks, count));

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_dst_sync")]
    public static int DestinationSync(void* ctx, uint phase, ulong sequence) =>
        Call(ctx, "dst_sync", context => As<DestinationPlugin>(context).Sync(phase, sequence));

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_dst_get_fd")]
    public static int DestinationGetFd(void* ctx) => -1;

    [UnmanagedCallersOnly(EntryPoint = "rdmacs_get_stats")]
    public static int GetStatistics(void* ctx, rdma_cs_stats* statistics)
    {
        // A host of an older minor version passes a shorter struct: fill only what it holds, and say how much that is.
        if (statistics == null || statistics->struct_size < StatisticsSize10)
        {
            return -Errno.EINVAL;
        }
        return Call(ctx, "get_stats", context =>
        {
            rdma_cs_stats all = default;
            context.FillStatistics(&all);
            uint size = Math.Min(statistics->struct_size, (uint)sizeof(rdma_cs_stats));
            all.struct_size = size;
            Buffer.MemoryCopy(&all, statistics, size, size);
            return RdmaCsAbi.RDMA_CS_OK;
        }, allowCancelled: true);
    }

    /// <summary>sizeof(rdma_cs_stats) in ABI 1.0 and 1.1: up to and including zero_pages.</summary>
    private static readonly uint StatisticsSize10 = (uint)Marshal.OffsetOf<rdma_cs_stats>(nameof(rdma_cs_stats.zero_pages)) + sizeof(ulong);

    private static PluginContext? Context(void* ctx)
    {
        if (ctx == null)
        {
            return null;
        }
        return GCHandle.FromIntPtr((nint)ctx).Target as PluginContext;
    }

    private static T As<T>(PluginContext context) where T : PluginContext =>
        context as T ?? throw new ArgumentException($"this call is for the {(typeof(T) == typeof(SourcePlugin) ? "source" : "destination")} role");

    private static int Call(void* ctx, string call, Func<PluginContext, int> body, bool allowCancelled = false)
    {
        if (Context(ctx) is not { } context)
        {
            return -Errno.EINVAL;
        }
        if (context.Cancelled && !allowCancelled)
        {
            return -Errno.ECANCELED;
        }
        try
        {
            return body(context);
        }
        catch (Exception e)
        {
            return Failed(ctx, call, e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Failed(void* ctx, string call, Exception error)
    {
        error = Errno.Root(error);
        Context(ctx)?.Host.Log((int)rdma_cs_log_level.RDMA_CS_LOG_ERROR, $"{call}: {error.Message}");
        return -Errno.From(error);
    }
}
