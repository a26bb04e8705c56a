using RdmaCs.Configuration;
using RdmaCs.Fabric;
using RdmaCs.Protocol;
using RdmaCs.Transfer;

namespace RdmaCs.Native;

/// <summary>The errno values the ABI returns (negated), and which one an exception means.</summary>
internal static class Errno
{
    public const int EIO = 5, EACCES = 13, EINVAL = 22, EPROTO = 71, EADDRINUSE = 98, ECONNRESET = 104,
        ETIMEDOUT = 110, ECONNREFUSED = 111, ECANCELED = 125;

    /// <summary>The exception that says what happened, out of the task wrappers around it.</summary>
    public static Exception Root(Exception error)
    {
        while (error is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            error = aggregate.InnerExceptions[0];
        }
        return error;
    }

    public static int From(Exception error) => Root(error) switch
    {
        OperationCanceledException => ECANCELED,
        EngineConfigurationException or ArgumentException => EINVAL,
        TimeoutException => ETIMEDOUT,
        PeerReportedException reported when reported.Reason.Contains("token", StringComparison.Ordinal) => EACCES,
        PeerReportedException => ECONNREFUSED,
        PeerLostException => ECONNRESET,
        ProtocolException => EPROTO,
        System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse } => EADDRINUSE,
        FabricException or EngineFailedException or IOException => EIO,
        _ => EIO,
    };
}
