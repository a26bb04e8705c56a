using System.Runtime.InteropServices;
using RdmaCs.Fabric.LibFabric;

namespace RdmaCs.Tests.LibFabric;

/// <summary>What the log says of libfabric's registration caches: off, or an operator's setting and what it costs.</summary>
public partial class RegistrationCachesTests
{
    [Fact]
    public void The_caches_are_off_once_turned_off_and_an_operators_setting_is_named_with_its_cost_to_the_budget()
    {
        RegistrationCaches.TurnOff();
        string off = RegistrationCaches.Describe(out bool holds);
        Assert.True(holds, off);
        Assert.Equal("libfabric registration caches: FI_MR_CACHE_MAX_COUNT=0; FI_EFA_MR_CACHE_ENABLE=0", off);

        setenv("FI_MR_CACHE_MAX_COUNT", "512", 1);
        try
        {
            string kept = RegistrationCaches.Describe(out holds);
            Assert.False(holds);
            Assert.Contains("FI_MR_CACHE_MAX_COUNT=512 as the operator set it: verbs keeps that many deregistered regions pinned beyond the budget", kept);
        }
        finally
        {
            setenv("FI_MR_CACHE_MAX_COUNT", "0", 1);
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
