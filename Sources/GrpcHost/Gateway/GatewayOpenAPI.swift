// Generated from docs/openapi.json by scripts/generate-openapi.sh; a test checks they match.
enum GatewayOpenAPI {
  static let document = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "runtime-host gateway",
    "version": "1.0.0",
    "description": "Call, publish to and watch agents on a runtime-host over HTTP/JSON and Server-Sent Events. When the host has a token, every /v1 route needs 'Authorization: Bearer TOKEN'. Errors are JSON {\"code\", \"message\"}."
  },
  "components": {
    "securitySchemes": {
      "bearer": {
        "type": "http",
        "scheme": "bearer"
      }
    },
    "schemas": {
      "Error": {
        "type": "object",
        "required": [
          "code",
          "message"
        ],
        "properties": {
          "code": {
            "type": "string"
          },
          "message": {
            "type": "string"
          }
        }
      },
      "Envelope": {
        "type": "object",
        "description": "A non-JSON payload (or a streamed chunk): its type name, content type, and data inline (JSON) or base64.",
        "required": [
          "type",
          "contentType"
        ],
        "properties": {
          "type": {
            "type": "string"
          },
          "contentType": {
            "type": "string"
          },
          "data": {},
          "data_base64": {
            "type": "string"
          }
        }
      },
      "AgentTypes": {
        "type": "object",
        "required": [
          "agentTypes"
        ],
        "properties": {
          "agentTypes": {
            "type": "array",
            "items": {
              "type": "object",
              "required": [
                "type",
                "workers",
                "subscriptions",
                "instances",
                "calls",
                "errors"
              ],
              "properties": {
                "type": {
                  "type": "string"
                },
                "workers": {
                  "type": "integer"
                },
                "subscriptions": {
                  "type": "array",
                  "items": {
                    "type": "object",
                    "required": [
                      "id"
                    ],
                    "properties": {
                      "id": {
                        "type": "string"
                      },
                      "topicType": {
                        "type": "string"
                      },
                      "topicTypePrefix": {
                        "type": "string"
                      }
                    }
                  }
                },
                "instances": {
                  "type": "integer",
                  "description": "Agent instances placed on its workers."
                },
                "calls": {
                  "type": "integer",
                  "description": "Calls to it finished since the host started (answered, failed, timed out)."
                },
                "errors": {
                  "type": "integer",
                  "description": "Of those, the calls that failed: an error response, a timeout, the callee gone."
                },
                "p50Ms": {
                  "type": "number",
                  "description": "Median latency over its latest 256 answered calls, in milliseconds; absent before any."
                },
                "p99Ms": {
                  "type": "number",
                  "description": "99th percentile latency over the same calls, in milliseconds."
                },
                "nodes": {
                  "type": "array",
                  "items": {
                    "type": "string"
                  },
                  "description": "In a cluster: the nodes whose workers serve it, by name; absent for a single host. 'workers' and 'instances' count this node's."
                }
              }
            }
          }
        }
      },
      "Published": {
        "type": "object",
        "required": [
          "id"
        ],
        "properties": {
          "id": {
            "type": "string"
          }
        }
      },
      "Overview": {
        "type": "object",
        "required": [
          "startedAt",
          "uptimeSeconds",
          "workers",
          "agentTypes",
          "instances",
          "subscriptions",
          "pendingRpcs",
          "tapReaders",
          "calls",
          "identity"
        ],
        "properties": {
          "startedAt": {
            "type": "string",
            "format": "date-time"
          },
          "uptimeSeconds": {
            "type": "number"
          },
          "workers": {
            "type": "integer",
            "description": "Connected workers."
          },
          "agentTypes": {
            "type": "integer"
          },
          "instances": {
            "type": "integer",
            "description": "Agent instances placed."
          },
          "subscriptions": {
            "type": "integer"
          },
          "pendingRpcs": {
            "type": "integer"
          },
          "tapReaders": {
            "type": "integer",
            "description": "Open topic streams (SSE and gRPC Subscribe)."
          },
          "calls": {
            "type": "object",
            "required": [
              "finished",
              "failed"
            ],
            "properties": {
              "finished": {
                "type": "integer"
              },
              "failed": {
                "type": "integer"
              }
            }
          },
          "identity": {
            "type": "string",
            "description": "The caller's identity."
          }
        }
      },
      "Workers": {
        "type": "object",
        "required": [
          "total",
          "offset",
          "workers"
        ],
        "properties": {
          "total": {
            "type": "integer",
            "description": "Workers matching q, all pages."
          },
          "offset": {
            "type": "integer"
          },
          "workers": {
            "type": "array",
            "items": {
              "type": "object",
              "required": [
                "clientId",
                "address",
                "identity",
                "connectedAt",
                "types",
                "instances",
                "messagesIn",
                "messagesOut"
              ],
              "properties": {
                "clientId": {
                  "type": "string"
                },
                "address": {
                  "type": "string",
                  "description": "The peer's address as the transport gives it, e.g. ipv4:127.0.0.1:51234."
                },
                "identity": {
                  "type": "string"
                },
                "connectedAt": {
                  "type": "string",
                  "format": "date-time"
                },
                "types": {
                  "type": "array",
                  "items": {
                    "type": "string"
                  }
                },
                "instances": {
                  "type": "integer"
                },
                "messagesIn": {
                  "type": "integer",
                  "description": "Frames it sent to the host."
                },
                "messagesOut": {
                  "type": "integer",
                  "description": "Frames the host sent it."
                }
              }
            }
          }
        }
      },
      "Cluster": {
        "type": "object",
        "required": [
          "node",
          "nodes",
          "placements"
        ],
        "properties": {
          "node": {
            "type": "string",
            "description": "This node's name."
          },
          "nodes": {
            "type": "array",
            "items": {
              "type": "object",
              "required": [
                "name",
                "address",
                "generation",
                "agentTypes",
                "isSelf",
                "linked",
                "watching"
              ],
              "properties": {
                "name": {
                  "type": "string"
                },
                "address": {
                  "type": "string",
                  "description": "Where the nodes reach its gRPC port."
                },
                "generation": {
                  "type": "integer",
                  "description": "Raised each time the node joins."
                },
                "agentTypes": {
                  "type": "array",
                  "items": {
                    "type": "string"
                  }
                },
                "isSelf": {
                  "type": "boolean"
                },
                "linked": {
                  "type": "boolean",
                  "description": "Whether this node has a link to it."
                },
                "watching": {
                  "type": "boolean",
                  "description": "Whether its gateway has topic readers (SSE, Subscribe): it is then sent every publish."
                }
              }
            },
            "description": "The members the directory lists."
          },
          "placements": {
            "type": "integer",
            "description": "Agent instances placed in the directory, as this node knows them."
          },
          "problem": {
            "type": "string",
            "description": "Why this node is not a healthy member (the directory unreachable, fenced, joining); absent when it is."
          }
        }
      }
    },
    "parameters": {
      "messageType": {
        "name": "type",
        "in": "query",
        "required": true,
        "description": "The message type name agents dispatch on. (Instead of this parameter, a caller may give it as the Content-Type parameter 'application/json; type=NAME'.)",
        "schema": {
          "type": "string",
          "minLength": 1
        }
      },
      "topicType": {
        "name": "type",
        "in": "path",
        "required": true,
        "schema": {
          "type": "string",
          "pattern": "^[A-Za-z0-9_\\-\\.\\:\\=]+$"
        }
      }
    },
    "responses": {
      "BadRequest": {
        "description": "Bad JSON, invalid id or topic, missing type name",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Unauthorized": {
        "description": "Missing or wrong bearer token",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Forbidden": {
        "description": "The caller's identity (--auth-file) may not do this: code permission-denied",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "TooLarge": {
        "description": "Over --max-message-size",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Unavailable": {
        "description": "The host is shutting down",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Published": {
        "description": "Routed; the event id",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Published"
            }
          }
        }
      }
    },
    "requestBodies": {
      "Publish": {
        "required": true,
        "content": {
          "application/json": {
            "schema": {}
          },
          "application/cloudevents+json": {
            "schema": {
              "type": "object",
              "properties": {
                "specversion": {
                  "type": "string",
                  "enum": [
                    "1.0"
                  ]
                },
                "id": {
                  "type": "string"
                },
                "type": {
                  "type": "string"
                },
                "source": {
                  "type": "string"
                },
                "datacontenttype": {
                  "type": "string"
                },
                "dataschema": {
                  "type": "string"
                },
                "data": {},
                "data_base64": {
                  "type": "string",
                  "contentEncoding": "base64",
                  "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
                }
              },
              "description": "A structured-mode CloudEvent. The topic is the path's: the event's own 'type' and 'source', if any, are replaced by it. The message type name is 'dataschema' (or ?type=). The data is inline JSON ('data'), or bytes in 'data_base64' with 'datacontenttype' (default application/octet-stream; application/x-protobuf bytes must be a serialized google.protobuf.Any). Workers decode JSON and protobuf only.",
              "oneOf": [
                {
                  "required": [
                    "data"
                  ],
                  "not": {
                    "required": [
                      "data_base64"
                    ]
                  },
                  "properties": {
                    "datacontenttype": {
                      "type": "string",
                      "pattern": "^(application/json( *;.*)?)?$"
                    }
                  }
                },
                {
                  "required": [
                    "data_base64"
                  ],
                  "not": {
                    "required": [
                      "data"
                    ]
                  }
                }
              ]
            }
          }
        }
      }
    }
  },
  "security": [
    {
      "bearer": []
    }
  ],
  "paths": {
    "/healthz": {
      "get": {
        "summary": "200 while serving, 503 while shutting down (no token needed).",
        "security": [],
        "responses": {
          "200": {
            "description": "Serving",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "503": {
            "description": "Shutting down",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        }
      }
    },
    "/metrics": {
      "get": {
        "summary": "Prometheus metrics (no token needed).",
        "security": [],
        "responses": {
          "200": {
            "description": "The text exposition",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          }
        }
      }
    },
    "/v1/agent-types": {
      "get": {
        "summary": "Every registered agent type with its worker count, instances, subscriptions and recent call figures.",
        "responses": {
          "200": {
            "description": "The agent types",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/AgentTypes"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/cluster": {
      "get": {
        "summary": "The cluster as this node sees it: its members, the types each serves, its links, and any membership problem. 404 on a host that is not a node of a cluster.",
        "responses": {
          "200": {
            "description": "The cluster",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Cluster"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "description": "Not a node of a cluster",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        }
      }
    },
    "/v1/overview": {
      "get": {
        "summary": "What the host serves now, for the web console: counts of workers, agent types, instances, subscriptions, pending RPCs, topic readers, and calls finished and failed.",
        "responses": {
          "200": {
            "description": "The overview",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Overview"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/workers": {
      "get": {
        "summary": "A page of the connected workers, by client id.",
        "parameters": [
          {
            "name": "offset",
            "in": "query",
            "schema": {
              "type": "integer",
              "minimum": 0,
              "maximum": 2147483647
            }
          },
          {
            "name": "limit",
            "in": "query",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 500,
              "default": 100
            }
          },
          {
            "name": "q",
            "in": "query",
            "description": "Only workers whose client id, identity, address or an agent type contains it (case-insensitive).",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The page",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Workers"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/agents/{type}/{key}": {
      "post": {
        "summary": "Call an agent (RPC). With 'Accept: text/event-stream' the answer streams as SSE: 'event: chunk' per partial result, then one 'event: result' or 'event: error'.",
        "parameters": [
          {
            "name": "type",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "pattern": "^[A-Za-z0-9_\\-\\.]+$"
            }
          },
          {
            "name": "key",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "minLength": 1
            }
          },
          {
            "$ref": "#/components/parameters/messageType"
          },
          {
            "name": "timeout",
            "in": "query",
            "required": false,
            "description": "Seconds to wait, bounded by --rpc-timeout.",
            "schema": {
              "type": "number",
              "exclusiveMinimum": 0
            }
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {}
            }
          }
        },
        "responses": {
          "200": {
            "description": "The agent's answer: its JSON as is (type name in the Agent-Message-Type header), or an Envelope for protobuf; an SSE stream with Accept: text/event-stream",
            "headers": {
              "Agent-Message-Type": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {}
              },
              "text/event-stream": {
                "schema": {
                  "type": "object",
                  "description": "One Server-Sent Event: its 'event' name, 'id' and JSON 'data'.",
                  "properties": {
                    "event": {
                      "type": "string"
                    },
                    "id": {
                      "type": "string"
                    },
                    "data": {
                      "type": "string"
                    }
                  }
                }
              }
            }
          },
          "204": {
            "description": "The handler returned nothing"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "description": "No worker serves the agent type",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "502": {
            "description": "The agent refused or failed: its handler threw (code handler-failed, its text), has no handler for the message type (unhandled-message), or could not decode it (serialization-failed)",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "504": {
            "description": "No answer within the deadline",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        }
      }
    },
    "/v1/topics/{type}/{source}": {
      "post": {
        "summary": "Publish a message (JSON with a type name, or a structured-mode CloudEvent with Content-Type application/cloudevents+json).",
        "parameters": [
          {
            "$ref": "#/components/parameters/topicType"
          },
          {
            "name": "source",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "minLength": 1
            }
          },
          {
            "$ref": "#/components/parameters/messageType"
          }
        ],
        "requestBody": {
          "$ref": "#/components/requestBodies/Publish"
        },
        "responses": {
          "202": {
            "$ref": "#/components/responses/Published"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/topics/{type}/events": {
      "get": {
        "summary": "A live SSE stream of publishes on the topic type (or prefix): 'id:' the host's sequence, 'event:' the topic type, 'data:' a JSON CloudEvent. Last-Event-ID resumes from the host's replay ring; ': keepalive' every 15 s; a reader that falls behind gets a final 'event: error'.",
        "parameters": [
          {
            "$ref": "#/components/parameters/topicType"
          },
          {
            "name": "prefix",
            "in": "query",
            "required": false,
            "schema": {
              "type": "boolean"
            }
          },
          {
            "name": "source",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "Last-Event-ID",
            "in": "header",
            "required": false,
            "schema": {
              "type": "string",
              "pattern": "^[0-9]{0,19}$"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The event stream",
            "content": {
              "text/event-stream": {
                "schema": {
                  "type": "object",
                  "description": "One Server-Sent Event: its 'event' name, 'id' and JSON 'data'.",
                  "properties": {
                    "event": {
                      "type": "string"
                    },
                    "id": {
                      "type": "string"
                    },
                    "data": {
                      "type": "string"
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "post": {
        "summary": "Publish to the topic (type, 'events'): as POST /v1/topics/{type}/{source} with source 'events'.",
        "parameters": [
          {
            "$ref": "#/components/parameters/topicType"
          },
          {
            "$ref": "#/components/parameters/messageType"
          }
        ],
        "requestBody": {
          "$ref": "#/components/requestBodies/Publish"
        },
        "responses": {
          "202": {
            "$ref": "#/components/responses/Published"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    }
  }
}

"""#
}
