using System.Reflection;
using System.Runtime.InteropServices;
using RdmaCs.Bindings.LibFabric;

namespace RdmaCs.Bindings.Tests;

/// <summary>The generated declarations against the real library: every export resolves, and a real call works.</summary>
public unsafe class LibFabricCallTests
{
    [Fact]
    public void Every_generated_function_is_exported_by_the_installed_libfabric()
    {
        IntPtr library = NativeLibrary.Load(Fi.Library);
        try
        {
            IEnumerable<string> missing = typeof(Fi).GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Where(method => method.GetCustomAttribute<DllImportAttribute>() is not null)
                .Select(method => method.GetCustomAttribute<DllImportAttribute>()!.EntryPoint!)
                .Where(name => !NativeLibrary.TryGetExport(library, name, out _));
            Assert.Empty(missing);
        }
        finally
        {
            NativeLibrary.Free(library);
        }
    }

    [Fact]
    public void Getinfo_through_the_bindings_finds_the_tcp_provider_with_rma_on_connected_endpoints()
    {
        fi_info* hints = Fi.fi_dupinfo(null); // fi_allocinfo() is a static inline for exactly this
        Assert.True(hints != null);
        fi_info* info = null;
        try
        {
            hints->caps = Fi.FI_RMA;
            hints->ep_attr->type = fi_ep_type.FI_EP_MSG;
            hints->fabric_attr->prov_name = (sbyte*)Marshal.StringToCoTaskMemUTF8("tcp");
            int result = Fi.fi_getinfo(Fi.FI_VERSION(1, 17), (sbyte*)null, (sbyte*)null, 0, hints, &info);
            Assert.True(result == 0, $"fi_getinfo: {Marshal.PtrToStringUTF8((nint)Fi.fi_strerror(-result))}");
            Assert.True(info != null);
            string provider = Marshal.PtrToStringUTF8((nint)info->fabric_attr->prov_name)!;
            Assert.StartsWith("tcp", provider);
            Assert.Equal(fi_ep_type.FI_EP_MSG, info->ep_attr->type);
            Assert.NotEqual(0UL, info->caps & Fi.FI_RMA);
        }
        finally
        {
            // fi_freeinfo frees prov_name with free(): hand it memory from malloc, which CoTaskMem is on Linux.
            Fi.fi_freeinfo(hints);
            if (info != null)
            {
                Fi.fi_freeinfo(info);
            }
        }
    }
}
