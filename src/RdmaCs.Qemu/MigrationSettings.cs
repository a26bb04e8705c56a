namespace RdmaCs.Qemu;

/// <summary>How guest RAM travels: rdma-cs (the plugin), QEMU's own <c>tcp:</c>, or <c>tcp:</c> with multifd channels.</summary>
public enum MigrationTransport
{
    RdmaCs,
    Tcp,
    Multifd,
}

/// <summary>One migration's settings, applied to both QEMUs before it starts.</summary>
public sealed record MigrationSettings
{
    public required MigrationTransport Transport { get; init; }

    /// <summary>The destination's migration port on 127.0.0.1 (rdma-cs also uses the control port, by default this + 1).</summary>
    public required int Port { get; init; }

    /// <summary>rdma-cs: the pinned-memory budget on each host.</summary>
    public long BudgetBytes { get; init; } = 64L << 20;

    /// <summary>rdma-cs: the secret both sides share; the source may be given another to test refusal.</summary>
    public string Token { get; init; } = "rdmacs-demo";

    public string? SourceToken { get; init; }

    /// <summary>rdma-cs: the libfabric provider ("" chooses).</summary>
    public string Provider { get; init; } = "tcp";

    /// <summary>rdma-cs: the control port; 0 = <see cref="Port"/> + 1.</summary>
    public int ControlPort { get; init; }

    public int MultifdChannels { get; init; } = 4;

    /// <summary>QEMU's downtime-limit, in milliseconds.</summary>
    public long DowntimeLimitMs { get; init; } = 300;

    /// <summary>QEMU's max-bandwidth, in bytes per second (QEMU's default, 128 MiB/s, would make every transport equal).</summary>
    public long MaxBandwidth { get; init; } = 100L << 30;

    public string Uri => Transport == MigrationTransport.RdmaCs ? $"rdma-cs:127.0.0.1:{Port}" : $"tcp:127.0.0.1:{Port}";

    public string Name => Transport switch
    {
        MigrationTransport.RdmaCs => "rdma_cs",
        MigrationTransport.Tcp => "tcp",
        _ => "multifd",
    };

    /// <summary>A TCP port on 127.0.0.1 that nothing listens on right now.</summary>
    public static int FreePort()
    {
        // The kernel may hand the same free port to two probes in a row (each is closed at once): a migration port
        // and a control port drawn one after the other were seen equal. This process never hands one out twice.
        lock (HandedOut)
        {
            while (true)
            {
                using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
                probe.Start();
                int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
                if (HandedOut.Add(port))
                {
                    return port;
                }
            }
        }
    }

    private static readonly HashSet<int> HandedOut = [];
}
