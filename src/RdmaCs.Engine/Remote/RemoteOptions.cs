namespace RdmaCs.Remote;

/// <summary>The destination's side of a session: where to listen, whom to admit, which provider, how long to wait.</summary>
public sealed record DestinationOptions
{
    public required string ListenHost { get; init; }
    public required int Port { get; init; }
    public required string Token { get; init; }

    /// <summary>"auto" (verbs, then efa, then tcp), or a provider name; the source's wish is used when this is auto.</summary>
    public string Provider { get; init; } = "auto";

    /// <summary>
    /// The most bytes of guest RAM (and of the fabric's own buffers, on a NIC) registered at once on this host: the source
    /// writes through windows of RAM the destination registers on demand, at most this many bytes of them.
    /// </summary>
    public long BudgetBytes { get; init; } = 64L << 20;

    /// <summary>How long the source may take to say hello and to connect its RDMA endpoint.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the source may stay silent during the transfer (a round can be long).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Called (on the session's thread) once the source's RDMA endpoint is connected.</summary>
    public Action? Connected { get; init; }
}

/// <summary>The source's side: whom to reach, with which token and provider, and its deadlines.</summary>
public sealed record SourceOptions
{
    public required string Host { get; init; }
    public required int Port { get; init; }
    public required string Token { get; init; }
    public string Provider { get; init; } = "auto";
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RoundTimeout { get; init; } = TimeSpan.FromMinutes(5);
}
